-- Orders of the day with the customer's country ('unknown' when the customer is
-- missing, so no order is dropped by the join), and what was captured for them.
WITH day_orders AS (
  SELECT o.order_id, o.is_revenue, o.amount_usd, COALESCE(c.country, 'unknown') AS country
  FROM "staging"."stg_orders" AS o
  LEFT JOIN "staging"."stg_customers" AS c ON c.customer_id = o.customer_id
  WHERE o.order_date = :partition
),
captured AS (
  SELECT order_id, sum(amount_usd) AS captured_usd
  FROM "staging"."stg_payments"
  WHERE payment_date = :partition
  GROUP BY order_id
)
SELECT
  CAST(:partition AS DATE) AS "date",
  o.country,
  count(*) AS orders,
  sum(CASE WHEN o.is_revenue THEN 1 ELSE 0 END) AS revenue_orders,
  COALESCE(sum(CASE WHEN o.is_revenue THEN o.amount_usd END), 0) AS booked_revenue_usd,
  COALESCE(sum(p.captured_usd), 0) AS captured_usd
FROM day_orders AS o
LEFT JOIN captured AS p ON p.order_id = o.order_id
GROUP BY o.country
