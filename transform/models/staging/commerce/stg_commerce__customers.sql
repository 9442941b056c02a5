{#- Loyalty members of the point-of-sale system. -#}
with source as (

    select * from {{ source('commerce', 'customers') }}
    where {{ not_quarantined('commerce', 'customers') }}

),

renamed as (

    select
        loyalty_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone', 'country') }} as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        upper(nullif(trim(postcode), '')) as postcode,
        {{ normalize_country('country') }} as country_code,
        cast(enrolled_at as {{ cdp_type('timestamp') }}) as enrolled_at,
        cast(updated_at as {{ cdp_type('timestamp') }}) as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
