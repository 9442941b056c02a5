{{ config(materialized='connected_components') }}
{#-
  Final pass: deterministic components joined by the kept probabilistic links. The graph here
  is small: its nodes are the deterministic components themselves.
-#}
select component_id_a as node_a, component_id_b as node_b
from {{ ref('int_identity__probabilistic_links') }}
where drop_rule is null
union all
select distinct component_id, component_id
from {{ ref('int_identity__deterministic_components') }}
