-- Attribution: revenue of the day from customers whose acquisition channel is the
-- channel, against the channel's spend that day.
WITH spend AS (
  SELECT channel, spend_usd
  FROM "staging"."stg_marketing_spend"
  WHERE "date" = :partition
),
new_customers AS (
  SELECT acquisition_channel AS channel, count(*) AS customers
  FROM "staging"."stg_customers"
  WHERE signup_date = :partition
  GROUP BY acquisition_channel
),
revenue AS (
  SELECT c.acquisition_channel AS channel, sum(o.amount_usd) AS revenue_usd
  FROM "staging"."stg_orders" AS o
  JOIN "staging"."stg_customers" AS c ON c.customer_id = o.customer_id
  WHERE o.order_date = :partition AND o.is_revenue
  GROUP BY c.acquisition_channel
)
SELECT
  CAST(:partition AS DATE) AS "date",
  s.channel,
  s.spend_usd,
  COALESCE(n.customers, 0) AS new_customers,
  COALESCE(r.revenue_usd, 0) AS attributed_revenue_usd,
  CASE
    WHEN s.spend_usd > 0 THEN CAST(COALESCE(r.revenue_usd, 0) AS FLOAT8) / CAST(s.spend_usd AS FLOAT8)
  END AS roas
FROM spend AS s
LEFT JOIN new_customers AS n ON n.channel = s.channel
LEFT JOIN revenue AS r ON r.channel = s.channel
