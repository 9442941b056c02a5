{#- Order line items. -#}
with source as (

    select * from {{ source('commerce', 'order_lines') }}

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
