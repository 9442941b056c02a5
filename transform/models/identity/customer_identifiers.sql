{#
  Every identifier known for each active customer (the identity graph's current answer).
  Built after identity_merge_history, which compares this run with the previous map.
#}
-- depends_on: {{ ref('identity_merge_history') }}
with resolved as (
    select * from {{ ref('int_identity__resolved_nodes') }}
    where identifier_type <> 'record'
),

nodes as (
    select node_id, first_observed_at, last_observed_at, record_count from {{ ref('int_identity__nodes') }}
),

customers as (
    select customer_id, cluster_id from {{ ref('identity_customers') }}
    where status = 'active'
),

final as (
    select
        resolved.identifier_key,
        resolved.identifier_type,
        substr(resolved.identifier_key, length(resolved.identifier_type) + 2) as identifier_value,
        customers.customer_id,
        nodes.first_observed_at,
        nodes.last_observed_at,
        nodes.record_count
    from resolved
    inner join customers on resolved.cluster_id = customers.cluster_id
    inner join nodes on resolved.node_id = nodes.node_id
)

select * from final
