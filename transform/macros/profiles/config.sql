{#-
  The profile layer reads its rules from `vars.profiles` in dbt_project.yml (survivorship,
  FX rates, RFM segments, consent channels) and the time it is computed "as of" from the
  top-level var `profiles_as_of` (default: the run's start). These macros turn that
  configuration into SQL fragments.
-#}

{% macro profiles_config() -%}
    {{ return(var('profiles', {})) }}
{%- endmacro %}

{#- The personal attributes of a golden record, in column order. -#}
{% macro profile_attributes() -%}
    {{ return(['first_name', 'last_name', 'email', 'phone', 'date_of_birth',
               'street_address', 'city', 'state', 'postcode', 'country_code']) }}
{%- endmacro %}

{#- Every source table that states personal attributes (`<source>/<table>`). -#}
{% macro profile_attribute_sources() -%}
    {{ return(['crm/contacts', 'commerce/customers', 'lists/list_members', 'events/events',
               'commerce/orders', 'support/tickets', 'email/email_events']) }}
{%- endmacro %}

{#-
  The time profiles are computed as of (days since last order, RFM recency, 30/90-day
  windows): the `profiles_as_of` var when set (any ISO-8601 text, e.g. '2026-11-01' or
  '2026-11-01T00:00:00Z'), else the environment variable CDP_PROFILES_AS_OF (the demo sets
  it to the sample world's end), else the run's start in UTC. Setting it makes a build
  repeatable.
-#}
{% macro profiles_as_of() -%}
    {%- set as_of = var('profiles_as_of', env_var('CDP_PROFILES_AS_OF', '')) -%}
    {%- if as_of is none or (as_of | string | trim) in ('', 'none', 'None', 'null') -%}
        {{ run_timestamp() }}
    {%- else -%}
        cast('{{ as_of | string | replace("'", "''") }}' as {{ cdp_type('timestamp') }})
    {%- endif -%}
{%- endmacro %}

{#-
  Survivorship rules, one per attribute or attribute group, every profile attribute covered
  exactly once. `vars.profiles.survivorship`:

    default: {sources: [...], rank_by: [...]}     # for every attribute no rule names
    rules:
      email: {sources: [...]}                      # one attribute: the rule's name is the column
      address: {fields: [street_address, city, ...], sources: [...]}   # a group: one record wins for all

  sources: `<source>/<table>` in priority order; sources not listed rank after the listed
  ones (equal among themselves); `exclude`: sources never used for the rule.
  rank_by: criteria in order, from `source` (the priority above), `recency` (latest
  observation first; undated observations last), `completeness` (the record stating more
  personal attributes first) and `agreement` (the value stated by more distinct sources of
  the customer first). Default `[source, recency, completeness]`. Remaining ties go to the
  smallest value, so a rebuild picks the same one.
-#}
{% macro survivorship_rules() -%}
    {%- set config = profiles_config().get('survivorship', {}) or {} -%}
    {%- set default = config.get('default', {}) or {} -%}
    {%- set default_sources = default.get('sources', profile_attribute_sources()) -%}
    {%- set default_rank_by = default.get('rank_by', ['source', 'recency', 'completeness']) -%}
    {%- set known = profile_attributes() -%}
    {%- set criteria = ['source', 'recency', 'completeness', 'agreement'] -%}
    {%- set rules = [] -%}
    {%- set covered = [] -%}
    {%- for name, spec in (config.get('rules', {}) or {}).items() -%}
        {%- set spec = spec or {} -%}
        {%- set fields = spec.get('fields', [name]) -%}
        {%- for field in fields -%}
            {%- if field not in known -%}
                {{ exceptions.raise_compiler_error("profiles survivorship rule '" ~ name ~ "': unknown attribute '" ~ field ~ "' (known: " ~ known | join(', ') ~ ")") }}
            {%- endif -%}
            {%- if field in covered -%}
                {{ exceptions.raise_compiler_error("profiles survivorship: attribute '" ~ field ~ "' is in more than one rule") }}
            {%- endif -%}
            {%- do covered.append(field) -%}
        {%- endfor -%}
        {%- set rank_by = spec.get('rank_by', default_rank_by) -%}
        {%- for criterion in rank_by if criterion not in criteria -%}
            {{ exceptions.raise_compiler_error("profiles survivorship rule '" ~ name ~ "': unknown rank_by criterion '" ~ criterion ~ "' (known: " ~ criteria | join(', ') ~ ")") }}
        {%- endfor -%}
        {%- do rules.append({'name': name, 'fields': fields, 'sources': spec.get('sources', default_sources),
                             'exclude': spec.get('exclude', []), 'rank_by': rank_by}) -%}
    {%- endfor -%}
    {%- for field in known if field not in covered -%}
        {%- do rules.append({'name': field, 'fields': [field], 'sources': default_sources,
                             'exclude': default.get('exclude', []), 'rank_by': default_rank_by}) -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}

{#- Priority of a source under a rule: 1 is the highest; unlisted sources rank after every listed one. -#}
{% macro survivorship_source_rank(source_expression, sources) -%}
    case {{ source_expression }}
    {%- for source in sources %}
        when '{{ source }}' then {{ loop.index }}
    {%- endfor %}
        else {{ sources | length + 1 }}
    end
{%- endmacro %}

{#- Currency code -> rate to USD (`vars.profiles.fx_rates_to_usd`), as a case expression. -#}
{% macro usd_rate(currency_expression) -%}
    {%- set rates = profiles_config().get('fx_rates_to_usd', {'USD': 1.0}) -%}
    case upper({{ currency_expression }})
    {%- for code, rate in rates.items() %}
        when '{{ code | upper }}' then cast({{ rate }} as {{ cdp_type('numeric') }})
    {%- endfor %}
    end
{%- endmacro %}

{#- Channels that consent is tracked for (`vars.profiles.consent_channels`). -#}
{% macro consent_channels() -%}
    {{ return(profiles_config().get('consent_channels', ['email', 'sms', 'ads'])) }}
{%- endmacro %}

{#-
  RFM segments (`vars.profiles.rfm_segments`): the first entry whose score ranges hold wins.
  r / f / m: [min, max] inclusive; a range left out matches any score.
-#}
{% macro rfm_segment(r_expression, f_expression, m_expression) -%}
    {%- set segments = profiles_config().get('rfm_segments', []) -%}
    {%- set scores = {'r': r_expression, 'f': f_expression, 'm': m_expression} -%}
    case
        when {{ r_expression }} is null or {{ f_expression }} is null then null
    {%- for segment in segments %}
        {%- set conditions = [] -%}
        {%- for key in ['r', 'f', 'm'] if segment.get(key) is not none -%}
            {%- do conditions.append(scores[key] ~ ' between ' ~ segment[key][0] ~ ' and ' ~ segment[key][1]) -%}
        {%- endfor %}
        when {{ conditions | join(' and ') if conditions else 'true' }} then '{{ segment.segment }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- The segment names the RFM configuration can produce (for accepted_values tests). -#}
{% macro rfm_segment_names() -%}
    {{ return(profiles_config().get('rfm_segments', []) | map(attribute='segment') | list) }}
{%- endmacro %}
