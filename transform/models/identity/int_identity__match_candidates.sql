{#-
  Input of probabilistic matching (Splink): the distinct sets of personal attributes stated
  about each deterministic component, plus every record that has no linking identifier but
  names a person (component_id null). `candidate_id` is the first record stating the set.
-#}
with attributes as (
    select * from {{ ref('int_identity__record_attributes') }}
    where first_name is not null or last_name is not null
),

nodes as (
    select identifier_key, node_id from {{ ref('int_identity__nodes') }}
),

components as (
    select node_id, component_id from {{ ref('int_identity__deterministic_components') }}
),

placed as (
    select
        attributes.record_ref,
        attributes.source_name || '/' || attributes.table_name as source_table,
        components.component_id,
        lower(attributes.first_name) as first_name,
        lower(attributes.last_name) as last_name,
        attributes.email,
        attributes.phone,
        attributes.postcode,
        attributes.date_of_birth,
        lower(attributes.city) as city,
        lower(attributes.street_address) as street_address
    from attributes
    left join nodes on attributes.hub_key = nodes.identifier_key
    left join components on nodes.node_id = components.node_id
),

grouped as (
    select
        min(record_ref) as candidate_id,
        component_id,
        min(source_table) as source_table,
        first_name, last_name, email, phone, postcode, date_of_birth, city, street_address
    from placed
    where component_id is not null
    group by component_id, first_name, last_name, email, phone, postcode, date_of_birth, city, street_address
),

unidentified as (
    select
        record_ref as candidate_id,
        component_id,
        source_table,
        first_name, last_name, email, phone, postcode, date_of_birth, city, street_address
    from placed
    where component_id is null
),

final as (
    select * from grouped
    union all
    select * from unidentified
)

select * from final
