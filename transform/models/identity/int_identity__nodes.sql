{#-
  The graph's nodes: every identifier that may link, and a pseudo identifier `record:<ref>` for
  each record that has no such identifier but carries a name (a store order with only a name
  and postcode): those can only join a customer through a probabilistic match. Node ids are
  dense integers for the connected-components passes; they are not stable across runs (the
  customer ids are). `support_records` weighs the evidence behind an identifier when merge
  protection must choose between values: the records of the identifiers it appears with (a
  CRM contact whose email the person's orders and events also carry outweighs a duplicate
  contact with a typo'd email that nothing else carries).
-#}
with memberships as (
    select * from {{ ref('int_identity__record_identifiers') }}
),

co_occurring as (
    select distinct memberships.identifier_key, neighbours.identifier_key as neighbour_key
    from memberships
    inner join memberships as neighbours
        on memberships.record_ref = neighbours.record_ref
       and memberships.identifier_key <> neighbours.identifier_key
    where not neighbours.is_shared
),

identifiers as (
    select
        identifier_key,
        min(identifier_type) as identifier_type,
        min(identifier_rank) as identifier_rank,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at,
        count(distinct record_ref) as record_count,
        max(case when is_shared then 1 else 0 end) = 1 as is_shared
    from memberships
    group by identifier_key
),

support as (
    select co_occurring.identifier_key, sum(identifiers.record_count) as support_records
    from co_occurring
    inner join identifiers on co_occurring.neighbour_key = identifiers.identifier_key
    group by co_occurring.identifier_key
),

identifiers_with_support as (
    select identifiers.*, identifiers.record_count + coalesce(support.support_records, 0) as support_records
    from identifiers
    left join support on identifiers.identifier_key = support.identifier_key
),

unidentified as (
    select
        'record:' || record_ref as identifier_key,
        'record' as identifier_type,
        {{ identity_types() | length + 2 }} as identifier_rank,
        observed_at as first_observed_at,
        observed_at as last_observed_at,
        1 as record_count,
        false as is_shared,
        1 as support_records
    from {{ ref('int_identity__record_attributes') }}
    where hub_key is null
),

all_nodes as (
    select * from identifiers_with_support
    union all
    select * from unidentified
),

final as (
    select
        row_number() over (order by identifier_key) as node_id,
        *
    from all_nodes
)

select * from final
