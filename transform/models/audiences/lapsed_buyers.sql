{#-
  Active customers who bought before (at least one completed order) and whose last completed
  order is more than vars.audiences.lapsed_after_days calendar days before profiles_as_of.
-#}
{%- set lapsed_after_days = audience_setting('lapsed_after_days', 180) -%}
with customers as (
    select * from {{ ref('int_audiences__customers') }}
),

final as (
    select
        customer_id,
        email,
        phone,
        first_name,
        last_name,
        orders_count,
        revenue_usd,
        last_order_at,
        days_since_last_order,
        rfm_segment
    from customers
    where orders_count >= 1
      and days_since_last_order > {{ lapsed_after_days }}
)

select * from final
