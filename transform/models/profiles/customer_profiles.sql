{#-
  One row per active customer: the golden record (personal attributes chosen by the
  survivorship rules of vars.profiles.survivorship, each with the source table that won),
  every identifier known for the customer, and all computed traits (customer_traits).
-#}
{%- set text = dbt.type_string() -%}
{%- set id_types = identity_types() | map(attribute='type') | list -%}
{%- set trait_columns = adapter.get_columns_in_relation(ref('customer_traits')) | map(attribute='name') | list if execute else [] -%}
with customers as (
    select customer_id from {{ ref('identity_customers') }}
    where status = 'active'
),

golden as (
    select * from {{ ref('int_profiles__golden_attributes') }}
),

identifiers as (
    select
        customer_id,
        count(*) as identifiers_count,
        {%- for id_type in id_types %}
        cast(sum(case when identifier_type = '{{ id_type }}' then 1 else 0 end) as {{ dbt.type_bigint() }}) as {{ id_type }}_count,
        {%- endfor %}
        {{ dbt.listagg("case when identifier_type = 'email' then identifier_value end", "','", 'order by identifier_value') }} as emails,
        {{ dbt.listagg("case when identifier_type = 'phone' then identifier_value end", "','", 'order by identifier_value') }} as phones,
        {{ dbt.listagg("case when identifier_type = 'user_id' then identifier_value end", "','", 'order by identifier_value') }} as user_ids,
        min(case when identifier_type = 'user_id' then identifier_value end) as user_id,
        min(case when identifier_type = 'crm_contact_id' then identifier_value end) as crm_contact_id,
        min(case when identifier_type = 'loyalty_id' then identifier_value end) as loyalty_id
    from {{ ref('customer_identifiers') }}
    group by customer_id
),

traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select
        customers.customer_id,
        {%- for attribute in profile_attributes() %}
        golden.{{ attribute }},
        {%- endfor %}
        {%- for attribute in profile_attributes() %}
        golden.{{ attribute }}_source,
        {%- endfor %}
        {%- for attribute in profile_attributes() %}
        golden.{{ attribute }}_observed_at,
        {%- endfor %}
        identifiers.emails,
        identifiers.phones,
        identifiers.user_ids,
        identifiers.user_id,
        identifiers.crm_contact_id,
        identifiers.loyalty_id,
        coalesce(identifiers.identifiers_count, 0) as identifiers_count,
        {%- for id_type in id_types %}
        coalesce(identifiers.{{ id_type }}_count, 0) as {{ id_type }}_count,
        {%- endfor %}
        {%- for column in trait_columns if column | lower != 'customer_id' %}
        traits.{{ adapter.quote(column) }},
        {%- endfor %}
        {{ profiles_as_of() }} as profile_as_of
    from customers
    left join golden on customers.customer_id = golden.customer_id
    left join identifiers on customers.customer_id = identifiers.customer_id
    left join traits on customers.customer_id = traits.customer_id
)

select * from final

-- depends_on: {{ source('identity', 'identity_health_history') }}
