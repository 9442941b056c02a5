{#-
  The golden record: for each survivorship rule (vars.profiles.survivorship), the value the
  customer's records state that ranks first. A rule groups the stated values of one source
  (latest observation, most complete record) and ranks them by its criteria in order:
  source priority, recency, completeness (and agreement, when configured); remaining ties go
  to the smallest value. A group rule (an address) takes every field from one winning
  record. An email or phone wins only when it is one of the customer's own identifiers
  (identity.customer_identifiers): identity resolution has dropped junk (`test@example.com`)
  and values it detached from the customer (shared, or kept by another customer when a limit
  broke), which are not theirs to be contacted on. Other attributes never take a junk value
  of vars.profiles.junk_values (`unknown`, `n/a`, ...).
-#}
{%- set rules = survivorship_rules() -%}
{%- set attributes = profile_attributes() -%}
{%- set identifier_attributes = ['email', 'phone'] -%}
{%- set junk_values = [] -%}
{%- for value in profiles_config().get('junk_values', ['', 'null', 'none', 'undefined', 'unknown', 'n/a', '-']) -%}
    {%- do junk_values.append("'" ~ (value | string | lower | replace("'", "''")) ~ "'") -%}
{%- endfor -%}
{%- set junk = junk_values | join(', ') -%}
with own_identifiers as (
    select customer_id, identifier_type, identifier_value
    from {{ ref('customer_identifiers') }}
    where identifier_type in ('email', 'phone')
),

candidates as (
    select
        stated.customer_id,
        stated.source,
        stated.observed_at,
        stated.completeness,
        {%- for attribute in attributes %}
        {%- if attribute == 'date_of_birth' %}
        stated.date_of_birth
        {%- elif attribute in identifier_attributes %}
        case when own_{{ attribute }}.customer_id is not null then stated.{{ attribute }} end as {{ attribute }}
        {%- else %}
        case when lower(trim(stated.{{ attribute }})) not in ({{ junk }}) then stated.{{ attribute }} end as {{ attribute }}
        {%- endif %}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_profiles__attribute_candidates') }} as stated
    {%- for attribute in identifier_attributes %}
    left join own_identifiers as own_{{ attribute }}
        on own_{{ attribute }}.customer_id = stated.customer_id
       and own_{{ attribute }}.identifier_type = '{{ attribute }}'
       and own_{{ attribute }}.identifier_value = stated.{{ attribute }}
    {%- endfor %}
),

customers as (
    select distinct customer_id from candidates
),
{% for rule in rules %}
{%- set fields = rule.fields | join(', ') %}
{{ rule.name }}_values as (
    select
        customer_id,
        source,
        {{ fields }},
        max(observed_at) as observed_at,
        max(completeness) as completeness
    from candidates
    where ({% for field in rule.fields %}{{ field }} is not null{% if not loop.last %} or {% endif %}{% endfor %})
    {%- if rule.exclude %}
      and source not in ({% for source in rule.exclude %}'{{ source }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif %}
    group by customer_id, source, {{ fields }}
),

{{ rule.name }}_ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
            {%- for criterion in rule.rank_by %}
                {%- if criterion == 'source' %}
                {{ survivorship_source_rank('source', rule.sources) }},
                {%- elif criterion == 'recency' %}
                case when observed_at is null then 1 else 0 end, observed_at desc,
                {%- elif criterion == 'completeness' %}
                completeness desc,
                {%- elif criterion == 'agreement' %}
                agreement desc,
                {%- endif %}
            {%- endfor %}
                {{ fields }}, source
        ) as winner_rank
    from (
        select
            *,
            {#- one row per (customer, source, value): the rows of a value are its distinct sources #}
            count(*) over (partition by customer_id, {{ fields }}) as agreement
        from {{ rule.name }}_values
    ) as counted
),

{{ rule.name }}_winner as (
    select customer_id, source, observed_at, {{ fields }}
    from {{ rule.name }}_ranked
    where winner_rank = 1
),
{% endfor %}
final as (
    select
        customers.customer_id,
        {%- for rule in rules %}
        {%- for field in rule.fields %}
        {{ rule.name }}_winner.{{ field }},
        case when {{ rule.name }}_winner.{{ field }} is not null then {{ rule.name }}_winner.source end as {{ field }}_source,
        {#- the latest time the winning source stated the value (the CRM sync's last-writer rule) #}
        case when {{ rule.name }}_winner.{{ field }} is not null then {{ rule.name }}_winner.observed_at end as {{ field }}_observed_at{% if not loop.last %},{% endif %}
        {%- endfor %}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from customers
    {%- for rule in rules %}
    left join {{ rule.name }}_winner on customers.customer_id = {{ rule.name }}_winner.customer_id
    {%- endfor %}
)

select * from final
