{#-
  Purchase traits of every customer with at least one order in the commerce system
  (commerce/orders: store and web orders; the web's `Order Completed` events are the same
  orders and are not counted again). Only completed orders count towards orders_count,
  revenue and average order value. `revenue` is in the orders' currency and only when the
  customer's completed orders are all in one currency; `revenue_usd` converts each order with
  the fixed rates of vars.profiles.fx_rates_to_usd (null when a currency has no rate).
  As of profiles_as_of: an order placed after it does not count (yet).
-#}
{%- set as_of = profiles_as_of() -%}
with orders as (
    select
        records.customer_id,
        orders.order_id,
        orders.status,
        orders.currency,
        orders.total_amount,
        orders.total_amount * {{ usd_rate('orders.currency') }} as total_amount_usd,
        orders.ordered_at
    from {{ staged('stg_commerce__orders') }} as orders
    inner join {{ ref('customer_records') }} as records
        on records.source_name = 'commerce'
       and records.table_name = 'orders'
       and records.record_key = orders.order_id
    where records.customer_id is not null
      and (orders.ordered_at is null or orders.ordered_at <= {{ as_of }})
),

per_customer as (
    select
        customer_id,
        count(*) as orders_all_count,
        cast(sum(case when status = 'completed' then 1 else 0 end) as {{ dbt.type_bigint() }}) as orders_count,
        cast(sum(case when status = 'refunded' then 1 else 0 end) as {{ dbt.type_bigint() }}) as refunded_orders_count,
        cast(sum(case when status = 'cancelled' then 1 else 0 end) as {{ dbt.type_bigint() }}) as cancelled_orders_count,
        min(case when status = 'completed' then ordered_at end) as first_order_at,
        max(case when status = 'completed' then ordered_at end) as last_order_at,
        count(distinct case when status = 'completed' then currency end) as currencies_count,
        min(case when status = 'completed' then currency end) as first_currency,
        sum(case when status = 'completed' then total_amount end) as revenue_any_currency,
        sum(case when status = 'completed' then total_amount_usd end) as revenue_usd_known,
        cast(sum(case when status = 'completed' and total_amount_usd is null then 1 else 0 end) as {{ dbt.type_bigint() }}) as unconverted_orders
    from orders
    group by customer_id
),

final as (
    select
        customer_id,
        orders_all_count,
        orders_count,
        refunded_orders_count,
        cancelled_orders_count,
        first_order_at,
        last_order_at,
        case when currencies_count = 1 then first_currency end as revenue_currency,
        case
            when orders_count = 0 then cast(0 as {{ cdp_type('numeric') }})
            when currencies_count = 1 then cast(revenue_any_currency as {{ cdp_type('numeric') }})
        end as revenue,
        case
            when orders_count = 0 then cast(0 as {{ cdp_type('numeric') }})
            when unconverted_orders = 0 then cast(revenue_usd_known as {{ cdp_type('numeric') }})
        end as revenue_usd,
        case when orders_count > 0 and currencies_count = 1
            then cast(revenue_any_currency / orders_count as {{ cdp_type('numeric') }}) end as average_order_value,
        case when orders_count > 0 and unconverted_orders = 0
            then cast(revenue_usd_known / orders_count as {{ cdp_type('numeric') }}) end as average_order_value_usd,
        case when last_order_at is not null
            then {{ dbt.datediff('last_order_at', as_of, 'day') }} end as days_since_last_order
    from per_customer
)

select * from final
