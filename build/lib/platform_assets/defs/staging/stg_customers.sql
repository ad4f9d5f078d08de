SELECT
  customer_id,
  lower(email) AS email,
  upper(country) AS country,
  acquisition_channel,
  signup_at,
  CAST(signup_at AS DATE) AS signup_date
FROM "raw"."customers"
