{#- Help-desk tickets, latest snapshot of each. -#}
{%- set raw = source('support', 'tickets') -%}
{%- set columns = relation_columns(raw) -%}

with source as (

    select * from {{ raw }}
    where {{ not_quarantined('support', 'tickets') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as ticket_id,
        {{ column_or_null(columns, 'subject') }} as subject,
        lower(status) as status,
        lower({{ column_or_null(columns, 'priority') }}) as priority,
        lower({{ column_or_null(columns, 'channel') }}) as channel,
        {{ normalize_email(column_or_null(columns, 'requester__email')) }} as requester_email,
        {{ normalize_phone(column_or_null(columns, 'requester__phone')) }} as requester_phone,
        nullif(trim({{ column_or_null(columns, 'requester__name') }}), '') as requester_name,
        {{ safe_cast(column_or_null(columns, 'created_at'), 'timestamp') }} as created_at,
        {{ safe_cast('updated_at', 'timestamp') }} as updated_at,
        lower(status) in ('new', 'open', 'pending') as is_open,
        _source_file as source_file,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id

    from source

),

final as (

    select * from renamed

)

select * from final
