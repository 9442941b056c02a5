{#- Tags of each ticket. -#}
with tags as (

    select * from {{ child_table('support', 'tickets', 'tags') }}
    where {{ not_quarantined('support', 'tickets__tags') }}

),

tickets as (

    select ticket_id, raw_row_id from {{ ref('stg_support__tickets') }}

),

final as (

    select
        tickets.ticket_id || ':' || lower(tags.value) as ticket_tag_key,
        tickets.ticket_id,
        lower(tags.value) as tag

    from tags
    inner join tickets on tags._dlt_parent_id = tickets.raw_row_id
    group by tickets.ticket_id, lower(tags.value)

)

select * from final
