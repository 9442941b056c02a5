{{ config(materialized='connected_components') }}
{#- Second pass: the kept links minus those of identifiers detached for a broken limit. -#}
with nodes as (
    select node_id, identifier_key from {{ ref('int_identity__nodes') }}
),

detached as (
    select identifier_key from {{ ref('int_identity__limit_breaks') }}
),

links as (
    select identifier_key_a, identifier_key_b
    from {{ ref('int_identity__links') }}
    where drop_rule is null
      and identifier_key_a not in (select identifier_key from detached)
      and identifier_key_b not in (select identifier_key from detached)
)

select node_a.node_id as node_a, node_b.node_id as node_b
from links
inner join nodes as node_a on links.identifier_key_a = node_a.identifier_key
inner join nodes as node_b on links.identifier_key_b = node_b.identifier_key
union all
select node_id, node_id from nodes
