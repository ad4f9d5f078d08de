"""Pushed events: a broker queue drained into the warehouse's landing tables.

``broker`` connects to RabbitMQ and measures a queue, ``decode`` tells landable events from
poison messages, ``writer`` lands a batch in one transaction, ``consumer`` is the
long-running process that ties them together (``make consume``). The events asset reads
the landing tables (``warehouse/landing.py``); nothing here knows a table's columns
beyond that interface.
"""
