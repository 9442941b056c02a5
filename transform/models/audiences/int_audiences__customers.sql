{#-
  The customers audiences choose from: every active customer (identity_customers) with the
  contact fields of their golden record and the traits audience rules read, one row each, from
  customer_profiles. Every audience selects from here, so none repeats the join.
-#}
with customers as (
    select customer_id from {{ ref('identity_customers') }}
    where status = 'active'
),

profiles as (
    select * from {{ ref('customer_profiles') }}
),

final as (
    select
        customers.customer_id,
        profiles.email,
        profiles.phone,
        profiles.first_name,
        profiles.last_name,
        profiles.orders_count,
        profiles.last_order_at,
        profiles.days_since_last_order,
        profiles.revenue_usd,
        profiles.rfm_segment,
        profiles.rfm_score
    from customers
    inner join profiles on customers.customer_id = profiles.customer_id
)

select * from final
