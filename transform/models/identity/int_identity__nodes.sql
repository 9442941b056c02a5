{#-
  The graph's nodes: every identifier that may link, and a pseudo identifier `record:<ref>` for
  each record that has no such identifier but carries a name (a store order with only a name
  and postcode): those can only join a customer through a probabilistic match. Node ids are
  dense integers for the connected-components passes; they are not stable across runs (the
  customer ids are).
-#}
with identifiers as (
    select
        identifier_key,
        min(identifier_type) as identifier_type,
        min(identifier_rank) as identifier_rank,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at,
        count(distinct record_ref) as record_count,
        max(case when is_shared then 1 else 0 end) = 1 as is_shared
    from {{ ref('int_identity__record_identifiers') }}
    group by identifier_key
),

unidentified as (
    select
        'record:' || record_ref as identifier_key,
        'record' as identifier_type,
        {{ identity_types() | length + 2 }} as identifier_rank,
        observed_at as first_observed_at,
        observed_at as last_observed_at,
        1 as record_count,
        false as is_shared
    from {{ ref('int_identity__record_attributes') }}
    where hub_key is null
),

all_nodes as (
    select * from identifiers
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
