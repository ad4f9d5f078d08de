SELECT
  payment_id,
  order_id,
  paid_at,
  payment_date,
  CAST(CAST(amount_cents AS DECIMAL(18, 2)) / 100 AS DECIMAL(18, 2)) AS amount_usd,
  method
FROM "raw"."payments"
WHERE payment_date = :partition
