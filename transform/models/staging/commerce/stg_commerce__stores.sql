{#- Physical stores. -#}
with source as (

    select * from {{ source('commerce', 'stores') }}
    where {{ not_quarantined('commerce', 'stores') }}

),

renamed as (

    select
        store_id,
        name as store_name,
        city,
        {{ normalize_country('country') }} as country_code,
        cast(updated_at as {{ cdp_type('timestamp') }}) as updated_at,
        _dlt_load_id as load_id

    from source

),

final as (

    select * from renamed

)

select * from final
