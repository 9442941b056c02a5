{#- External ids (of named systems) carried by list members. -#}
with external_ids as (

    select * from {{ child_table('lists', 'list_members', 'external_ids') }}
    where {{ not_quarantined('lists', 'list_members__external_ids') }}

),

members as (

    select member_key, list_name, raw_row_id from {{ ref('stg_lists__list_members') }}

),

final as (

    select
        members.member_key || ':' || lower(external_ids.system) as member_external_id_key,
        members.member_key,
        members.list_name,
        lower(external_ids.system) as system,
        trim(external_ids.external_id) as external_id

    from external_ids
    inner join members on external_ids._dlt_parent_id = members.raw_row_id

)

select * from final
