SELECT
  order_id,
  customer_id,
  order_ts,
  order_date,
  status,
  CAST(CAST(amount_cents AS DECIMAL(18, 2)) / 100 AS DECIMAL(18, 2)) AS amount_usd,
  status = 'completed' AS is_revenue
FROM "raw"."orders"
WHERE order_date = :partition
