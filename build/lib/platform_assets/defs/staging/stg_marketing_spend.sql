SELECT
  "date",
  channel,
  CAST(spend_usd AS DECIMAL(18, 2)) AS spend_usd,
  impressions,
  clicks,
  CASE WHEN impressions > 0 THEN CAST(clicks AS FLOAT8) / impressions END AS ctr
FROM "raw"."marketing_spend"
WHERE "date" = :partition
