{#- Order line items. The lines of a quarantined order wait in raw with it, and flow on when it is released. -#}
with source as (

    select * from {{ source('commerce', 'order_lines') }}
    where {{ not_quarantined('commerce', 'order_lines') }}
      and {{ parent_not_quarantined('commerce', 'orders', 'order_id') }}

),

renamed as (

    select
        line_id as order_line_id,
        order_id,
        sku,
        product_name,
        cast(quantity as {{ dbt.type_bigint() }}) as quantity,
        cast(unit_price as {{ cdp_type('numeric') }}) as unit_price,
        cast(line_amount as {{ cdp_type('numeric') }}) as line_amount,
        cast(updated_at as {{ cdp_type('timestamp') }}) as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
