WITH orders AS (
  SELECT
    customer_id,
    count(*) AS orders,
    min(order_date) AS first_order_date,
    max(order_date) AS last_order_date,
    COALESCE(sum(CASE WHEN is_revenue THEN amount_usd END), 0) AS revenue_usd
  FROM "staging"."stg_orders"
  GROUP BY customer_id
),
paid AS (
  SELECT o.customer_id, sum(p.amount_usd) AS paid_usd
  FROM "staging"."stg_payments" AS p
  JOIN "staging"."stg_orders" AS o ON o.order_id = p.order_id
  GROUP BY o.customer_id
)
SELECT
  c.customer_id,
  c.country,
  c.acquisition_channel,
  c.signup_date,
  COALESCE(o.orders, 0) AS orders,
  o.first_order_date,
  o.last_order_date,
  COALESCE(o.revenue_usd, 0) AS lifetime_revenue_usd,
  COALESCE(p.paid_usd, 0) AS lifetime_paid_usd
FROM "staging"."stg_customers" AS c
LEFT JOIN orders AS o ON o.customer_id = c.customer_id
LEFT JOIN paid AS p ON p.customer_id = c.customer_id
