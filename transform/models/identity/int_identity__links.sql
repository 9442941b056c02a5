{#-
  Deterministic links: each record links its hub to each of its other identifiers. One row per
  identifier pair with its evidence, and `drop_rule` when merge protection refuses the link:
  - `shared_identifier`: one side is seen with too many persons (int_identity__shared_identifiers);
  - `do_not_link`: the pair is on the do-not-link list (seed identity_do_not_link);
  - `limit:<type>`: an identifier tied directly to more values of a one-per-customer type than
    the type allows keeps its links to the best-evidenced values (most supporting records, see
    int_identity__nodes, then first seen, then value) and drops the others.
  Limits broken only through longer paths are handled after the first components pass
  (int_identity__limit_breaks).
-#}
with memberships as (
    select * from {{ ref('int_identity__record_identifiers') }}
),

pairs as (
    select
        case when hubs.identifier_key < others.identifier_key then hubs.identifier_key else others.identifier_key end as identifier_key_a,
        case when hubs.identifier_key < others.identifier_key then others.identifier_key else hubs.identifier_key end as identifier_key_b,
        others.record_ref,
        others.observed_at,
        hubs.is_shared or others.is_shared as touches_shared
    from memberships as others
    inner join memberships as hubs
        on others.record_ref = hubs.record_ref and hubs.is_hub
    where not others.is_hub
),

links as (
    select
        identifier_key_a,
        identifier_key_b,
        count(distinct record_ref) as evidence_records,
        min(record_ref) as example_record_ref,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at,
        max(case when touches_shared then 1 else 0 end) = 1 as touches_shared
    from pairs
    group by identifier_key_a, identifier_key_b
),

nodes as (
    select identifier_key, identifier_type, support_records, first_observed_at
    from {{ ref('int_identity__nodes') }}
),

do_not_link as (
    select identifier_key_a, identifier_key_b from {{ ref('int_identity__do_not_link') }}
),

{#- each side of every link, to see which limited values an identifier is tied to directly -#}
sides as (
    select identifier_key_a as identifier_key, identifier_key_b as neighbour_key from links where not touches_shared
    union all
    select identifier_key_b, identifier_key_a from links where not touches_shared
),

limited_neighbours as (
    select
        sides.identifier_key,
        sides.neighbour_key,
        neighbour.identifier_type as limited_type,
        {{ identity_type_limit('neighbour.identifier_type') }} as type_limit,
        row_number() over (
            partition by sides.identifier_key, neighbour.identifier_type
            order by neighbour.support_records desc, neighbour.first_observed_at, neighbour.identifier_key
        ) as neighbour_rank
    from sides
    inner join nodes as neighbour on sides.neighbour_key = neighbour.identifier_key
    inner join nodes as self on sides.identifier_key = self.identifier_key
    where neighbour.identifier_type in ({{ identity_limited_type_list() }})
      and self.identifier_type <> neighbour.identifier_type
),

over_limit as (
    select
        case when identifier_key < neighbour_key then identifier_key else neighbour_key end as identifier_key_a,
        case when identifier_key < neighbour_key then neighbour_key else identifier_key end as identifier_key_b,
        min('limit:' || limited_type) as drop_rule
    from limited_neighbours
    where neighbour_rank > type_limit
    group by 1, 2
),

final as (
    select
        links.identifier_key_a,
        links.identifier_key_b,
        links.evidence_records,
        links.example_record_ref,
        links.first_observed_at,
        links.last_observed_at,
        case
            when links.touches_shared then 'shared_identifier'
            when do_not_link.identifier_key_a is not null then 'do_not_link'
            else over_limit.drop_rule
        end as drop_rule
    from links
    left join do_not_link
        on links.identifier_key_a = do_not_link.identifier_key_a
       and links.identifier_key_b = do_not_link.identifier_key_b
    left join over_limit
        on links.identifier_key_a = over_limit.identifier_key_a
       and links.identifier_key_b = over_limit.identifier_key_b
)

select * from final
