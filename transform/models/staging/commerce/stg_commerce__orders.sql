{#- Web and store orders. -#}
with source as (

    select * from {{ source('commerce', 'orders') }}
    where {{ not_quarantined('commerce', 'orders') }}

),

renamed as (

    select
        order_id,
        lower(channel) as channel,
        store_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        upper(nullif(trim(postcode), '')) as postcode,
        upper(currency) as currency,
        cast(subtotal_amount as {{ cdp_type('numeric') }}) as subtotal_amount,
        cast(tax_amount as {{ cdp_type('numeric') }}) as tax_amount,
        cast(total_amount as {{ cdp_type('numeric') }}) as total_amount,
        lower(status) as status,
        cast(ordered_at as {{ cdp_type('timestamp') }}) as ordered_at,
        cast(updated_at as {{ cdp_type('timestamp') }}) as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
