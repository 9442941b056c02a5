{#- Products of order events (Segment `properties.products`), one row per product line. -#}
{%- set raw = child_table('events', 'events', 'properties__products') -%}
{%- set columns = relation_columns(raw) -%}

with products as (

    select * from {{ raw }}
    where {{ not_quarantined('events', 'events__properties__products') }}

),

events as (

    select event_key, raw_row_id, order_id from {{ ref('stg_events__events') }}

),

renamed as (

    select
        events.event_key || ':' || cast(products._dlt_list_idx as {{ dbt.type_string() }}) as order_product_key,
        events.event_key,
        events.order_id,
        products._dlt_list_idx as position,
        {{ column_or_null(columns, 'product_id') }} as product_id,
        {{ column_or_null(columns, 'sku') }} as sku,
        {{ column_or_null(columns, 'name') }} as product_name,
        {{ safe_cast(column_or_null(columns, 'price', 'double'), 'numeric') }} as unit_price,
        {{ safe_cast(column_or_null(columns, 'quantity', 'bigint'), 'bigint') }} as quantity

    from products
    inner join events on products._dlt_parent_id = events.raw_row_id

),

final as (

    select * from renamed

)

select * from final
