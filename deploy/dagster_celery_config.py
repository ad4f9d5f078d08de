"""Celery settings of a dagster-celery worker, from the worker's environment.

``celery -A dagster_celery.app worker`` builds its app with dagster-celery's defaults and then
applies the module ``dagster_celery_config`` when it is importable: deploy/worker.sh puts
this folder on PYTHONPATH. The settings come from platform_assets.automation.executors, the
same place the executor takes them from, so both sides agree on broker, backend, acks and
redelivery. The URLs stay in the environment (``dagster-celery worker start -y`` would write
them, passwords included, to a file under DAGSTER_HOME).
"""

from platform_assets.automation.executors import worker_settings

globals().update(worker_settings())
