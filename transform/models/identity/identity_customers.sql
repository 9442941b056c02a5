{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}
{#-
  The customer-id registry: every customer id ever issued, kept across runs and full
  rebuilds (full_refresh=false). Rules, applied to the clusters of this run:
  - A customer claims the cluster that holds its founding identifier (the identifier it was
    issued for); if that identifier is gone, the cluster holding most of its identifiers, and
    it is re-founded there.
  - When several customers claim one cluster they merge: the surviving id is the one issued
    first (then whose founding identifier was seen first, then by id); the others are retired
    with `merged_into_customer_id` pointing at the survivor, and lookups by them keep working.
  - A retired customer whose founding identifier is in a cluster no active customer claims
    (its merge was undone) is reactivated with its old id.
  - Only clusters holding a record count: an identifier detached by merge protection that
    heads no record is no customer.
  - An unclaimed cluster gets a new id derived from its founding identifier (seen first, then
    highest priority, then by value): `cus_` + 16 hex of md5, so a rebuild from the same data
    issues the same ids.
-#}
{%- set now = run_timestamp() -%}
with nodes as (
    select node_id, identifier_rank, first_observed_at from {{ ref('int_identity__nodes') }}
),

hubs as (
    select distinct hub_key from {{ ref('int_identity__record_identifiers') }}
),

{#- a cluster is a customer only if it holds a record: identifiers detached by merge
    protection that head no record of their own stay out of the registry -#}
clusters_with_records as (
    select distinct resolved.cluster_id
    from {{ ref('int_identity__resolved_nodes') }} as resolved
    where resolved.identifier_type = 'record'
       or resolved.identifier_key in (select hub_key from hubs)
),

resolved as (
    select resolved.cluster_id, resolved.identifier_key, nodes.identifier_rank, nodes.first_observed_at
    from {{ ref('int_identity__resolved_nodes') }} as resolved
    inner join nodes on resolved.node_id = nodes.node_id
    where resolved.identifier_type <> 'record'
      and resolved.cluster_id in (select cluster_id from clusters_with_records)
),

founders as (
    select cluster_id, identifier_key as founder_key, first_observed_at as founder_observed_at
    from (
        select
            *,
            row_number() over (
                partition by cluster_id
                order by case when first_observed_at is null then 1 else 0 end, first_observed_at, identifier_rank, identifier_key
            ) as founder_rank
        from resolved
    ) as ranked
    where founder_rank = 1
),

prior as (
{%- if is_incremental() %}
    select * from {{ this }}
{%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as founder_key,
        cast(null as {{ cdp_type('timestamp') }}) as founder_observed_at,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as merged_into_customer_id,
        cast(null as {{ cdp_type('bigint') }}) as cluster_id,
        cast(null as {{ cdp_type('timestamp') }}) as issued_at,
        cast(null as {{ cdp_type('timestamp') }}) as status_changed_at,
        cast(null as {{ dbt.type_string() }}) as last_change,
        cast(null as {{ dbt.type_string() }}) as changed_in_run
    where 1 = 0
{%- endif %}
),

prior_map as (
    select * from {{ previous_state('customer_identifiers', {'identifier_key': 'text', 'customer_id': 'text'}) }} as previous
),

placed_by_founder as (
    select prior.customer_id, resolved.cluster_id, 'founder' as placed_by
    from prior
    inner join resolved on prior.founder_key = resolved.identifier_key
),

placed_by_identifiers as (
    select customer_id, cluster_id, 'identifiers' as placed_by
    from (
        select
            prior_map.customer_id,
            resolved.cluster_id,
            row_number() over (partition by prior_map.customer_id order by count(*) desc, resolved.cluster_id) as cluster_rank
        from prior_map
        inner join resolved on prior_map.identifier_key = resolved.identifier_key
        where prior_map.customer_id in (select customer_id from prior where status = 'active')
          and prior_map.customer_id not in (select customer_id from placed_by_founder)
        group by prior_map.customer_id, resolved.cluster_id
    ) as ranked
    where cluster_rank = 1
),

placed as (
    select * from placed_by_founder
    union all
    select * from placed_by_identifiers
),

claims as (
    select
        placed.customer_id,
        placed.cluster_id,
        placed.placed_by,
        row_number() over (
            partition by placed.cluster_id
            order by case when prior.status = 'active' then 0 else 1 end, prior.issued_at,
                     prior.founder_observed_at, prior.customer_id
        ) as claim_rank
    from placed
    inner join prior on placed.customer_id = prior.customer_id
    where prior.status in ('active', 'merged')
),

survivors as (
    select cluster_id, customer_id, placed_by from claims where claim_rank = 1
),

new_customers as (
    select
        founders.cluster_id,
        case
            when prior.customer_id is null then 'cus_' || substr(md5(founders.founder_key), 1, 16)
            else 'cus_' || substr(md5(founders.founder_key || ':{{ invocation_id }}'), 1, 16)
        end as customer_id,
        founders.founder_key,
        founders.founder_observed_at
    from founders
    left join survivors on founders.cluster_id = survivors.cluster_id
    left join prior on prior.customer_id = 'cus_' || substr(md5(founders.founder_key), 1, 16)
    where survivors.cluster_id is null
),

carried as (
    select
        prior.customer_id,
        case when survivors.placed_by = 'identifiers' then founders.founder_key else prior.founder_key end as founder_key,
        case when survivors.placed_by = 'identifiers' then founders.founder_observed_at else prior.founder_observed_at end
            as founder_observed_at,
        case
            when survivors.customer_id is not null then 'active'
            when claims.customer_id is not null then 'merged'
            when prior.status = 'active' then 'gone'
            else prior.status
        end as status,
        case
            when survivors.customer_id is not null then null
            when claims.customer_id is not null then cluster_survivor.customer_id
            else prior.merged_into_customer_id
        end as merged_into_customer_id,
        prior.merged_into_customer_id as previous_merged_into,
        coalesce(survivors.cluster_id, claims.cluster_id) as cluster_id,
        prior.issued_at,
        prior.status as previous_status,
        prior.founder_key as previous_founder_key,
        prior.status_changed_at,
        prior.last_change,
        prior.changed_in_run
    from prior
    left join survivors on prior.customer_id = survivors.customer_id
    left join claims on prior.customer_id = claims.customer_id
    left join survivors as cluster_survivor on claims.cluster_id = cluster_survivor.cluster_id
    left join founders on survivors.cluster_id = founders.cluster_id
),

changes as (
    select
        *,
        case
            when status = 'active' and previous_status = 'merged' then 'reactivated'
            when status = 'merged' and previous_status = 'active' then 'merged'
            when status = 'gone' and previous_status = 'active' then 'gone'
            when status = 'merged' and merged_into_customer_id <> coalesce(previous_merged_into, '') then 'repointed'
            when status = 'active' and founder_key <> previous_founder_key then 'refounded'
        end as change
    from carried
),

final as (
    select
        customer_id,
        founder_key,
        founder_observed_at,
        status,
        merged_into_customer_id,
        cluster_id,
        issued_at,
        case when change is null then status_changed_at else {{ now }} end as status_changed_at,
        coalesce(change, last_change) as last_change,
        case when change is null then changed_in_run else '{{ invocation_id }}' end as changed_in_run
    from changes
    union all
    select
        customer_id,
        founder_key,
        founder_observed_at,
        'active',
        cast(null as {{ dbt.type_string() }}),
        cluster_id,
        {{ now }},
        {{ now }},
        'issued',
        '{{ invocation_id }}'
    from new_customers
)

select * from final
