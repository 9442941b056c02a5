{#-
  Active customers who added a product to their cart (a Segment `Product Added` event) within
  vars.audiences.cart_abandon_window_hours hours up to profiles_as_of and have placed no order
  at or after it: no completed commerce order and no `Order Completed` event. Only the adds
  after the customer's last order are in the cart: cart_value sums their price x quantity (a
  quantity left out counts 1, an add without a price adds nothing) when they are all in one
  currency; cart_value_usd converts each at vars.profiles.fx_rates_to_usd. Events and orders reach
  their customer through identity's customer_records, like every profile model.
-#}
{%- set as_of = profiles_as_of() -%}
{%- set hours = audience_setting('cart_abandon_window_hours', 24) -%}
{%- set window_start = dbt.dateadd('hour', -hours, as_of) -%}
{%- set numeric = cdp_type('numeric') -%}
with records as (
    select source_name, table_name, record_key, customer_id
    from {{ ref('customer_records') }}
    where customer_id is not null
),

events as (
    select
        records.customer_id,
        events.event_key,
        events.event_name,
        events.occurred_at,
        events.currency,
        events.unit_price,
        coalesce(events.quantity, 1) as quantity
    from {{ staged('stg_events__events') }} as events
    inner join records
        on records.source_name = 'events'
       and records.table_name = 'events'
       and records.record_key = events.event_key
    where events.event_type = 'track'
      and events.event_name in ('Product Added', 'Order Completed')
      and events.occurred_at >= {{ window_start }}
      and events.occurred_at <= {{ as_of }}
),

adds as (
    select * from events
    where event_name = 'Product Added'
),

orders as (
    select customer_id, occurred_at as ordered_at
    from events
    where event_name = 'Order Completed'
    union all
    select records.customer_id, orders.ordered_at
    from {{ staged('stg_commerce__orders') }} as orders
    inner join records
        on records.source_name = 'commerce'
       and records.table_name = 'orders'
       and records.record_key = orders.order_id
    where orders.status = 'completed'
      and orders.ordered_at >= {{ window_start }}
      and orders.ordered_at <= {{ as_of }}
),

last_orders as (
    select customer_id, max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

open_adds as (
    select adds.*
    from adds
    left join last_orders on adds.customer_id = last_orders.customer_id
    where last_orders.last_ordered_at is null
       or adds.occurred_at > last_orders.last_ordered_at
),

carts as (
    select
        customer_id,
        count(distinct currency) as currencies_count,
        min(currency) as first_currency,
        sum(unit_price * quantity) as cart_value_any_currency,
        sum(unit_price * quantity * {{ usd_rate('currency') }}) as cart_value_usd_known,
        cast(sum(case when unit_price is not null and {{ usd_rate('currency') }} is null then 1 else 0 end) as {{ dbt.type_bigint() }})
            as unconverted_adds,
        cast(sum(quantity) as {{ dbt.type_bigint() }}) as cart_items_count,
        max(occurred_at) as last_added_at
    from open_adds
    group by customer_id
),

customers as (
    select * from {{ ref('int_audiences__customers') }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        case when carts.currencies_count = 1 then cast(carts.cart_value_any_currency as {{ numeric }}) end as cart_value,
        case when carts.currencies_count = 1 then carts.first_currency end as cart_currency,
        case when carts.unconverted_adds = 0 then cast(carts.cart_value_usd_known as {{ numeric }}) end as cart_value_usd,
        carts.cart_items_count,
        carts.last_added_at
    from carts
    inner join customers on carts.customer_id = customers.customer_id
)

select * from final
