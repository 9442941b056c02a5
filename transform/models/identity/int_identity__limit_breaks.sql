{#-
  Limits broken through longer paths, found on the first components pass: a component holding
  more values of a one-per-customer type than allowed (two user ids joined through a chain of
  emails and phones), or both sides of a do-not-link pair. The value with the weaker evidence
  (fewer supporting records, see int_identity__nodes, then seen later, then by value) is
  detached: all its links are dropped, so it and the records it heads form their own customer.
-#}
with nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

members as (
    select components.component_id, nodes.*
    from {{ ref('int_identity__components_first_pass') }} as components
    inner join nodes on components.node_id = nodes.node_id
),

limited as (
    select
        component_id,
        identifier_key,
        identifier_type,
        {{ identity_type_limit('identifier_type') }} as type_limit,
        row_number() over (
            partition by component_id, identifier_type
            order by support_records desc, first_observed_at, identifier_key
        ) as value_rank
    from members
    where identifier_type in ({{ identity_limited_type_list() }})
),

over_limit as (
    select identifier_key, component_id, 'limit:' || identifier_type as rule
    from limited
    where value_rank > type_limit
),

do_not_link as (
    select
        case
            when side_a.support_records > side_b.support_records then side_b.identifier_key
            when side_a.support_records < side_b.support_records then side_a.identifier_key
            when side_a.first_observed_at > side_b.first_observed_at then side_a.identifier_key
            when side_a.first_observed_at < side_b.first_observed_at then side_b.identifier_key
            else side_b.identifier_key
        end as identifier_key,
        side_a.component_id,
        'do_not_link' as rule
    from {{ ref('int_identity__do_not_link') }} as pairs
    inner join members as side_a on pairs.identifier_key_a = side_a.identifier_key
    inner join members as side_b on pairs.identifier_key_b = side_b.identifier_key
    where side_a.component_id = side_b.component_id
),

breaks as (
    select * from over_limit
    union all
    select * from do_not_link
),

final as (
    select identifier_key, min(component_id) as component_id, min(rule) as rule
    from breaks
    group by identifier_key
)

select * from final
