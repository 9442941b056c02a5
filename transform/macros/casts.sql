{#- Casts that give null instead of failing on a malformed value (raw text from CSVs and CRM strings). -#}
{% macro safe_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('safe_cast', 'opencdp')(expression, data_type)) }}
{%- endmacro %}

{% macro duckdb__safe_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ cdp_type(data_type) }})
{%- endmacro %}

{% macro default__safe_cast(expression, data_type) -%}
    {%- set patterns = {
        'date': '^\\s*\\d{4}-\\d{2}-\\d{2}\\s*$',
        'timestamp': '^\\s*\\d{4}-\\d{2}-\\d{2}([ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?\\s*(Z|[+-]\\d{2}(:?\\d{2})?)?\\s*$',
        'bigint': '^\\s*[+-]?\\d{1,18}\\s*$',
        'double': '^\\s*[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?\\s*$',
        'numeric': '^\\s*[+-]?(\\d+(\\.\\d*)?|\\.\\d+)\\s*$',
        'boolean': '^\\s*(true|false|t|f|yes|no|1|0)\\s*$',
    } -%}
    {%- if data_type in patterns -%}
    case when cast({{ expression }} as {{ dbt.type_string() }}) ~* '{{ patterns[data_type] }}'
        then cast(cast({{ expression }} as {{ dbt.type_string() }}) as {{ cdp_type(data_type) }}) end
    {%- else -%}
    cast({{ expression }} as {{ cdp_type(data_type) }})
    {%- endif -%}
{%- endmacro %}

{#- Epoch milliseconds or ISO-8601 text (HubSpot writes both) to a UTC timestamp. -#}
{#- (dlt may already have typed the column as a timestamp: the text cast keeps both cases working.) -#}
{% macro timestamp_from_text(expression) -%}
    {%- set text = 'cast(' ~ expression ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    case
        when {{ regex_matches(text, '^[0-9]{10,13}$') }}
            then {{ timestamp_from_epoch_millis('cast(' ~ text ~ ' as ' ~ dbt.type_bigint() ~ ')') }}
        else {{ safe_cast(text, 'timestamp') }}
    end
{%- endmacro %}

{% macro timestamp_from_epoch_millis(expression) -%}
    {{ return(adapter.dispatch('timestamp_from_epoch_millis', 'opencdp')(expression)) }}
{%- endmacro %}

{% macro duckdb__timestamp_from_epoch_millis(expression) -%}
    to_timestamp({{ expression }} / 1000.0)
{%- endmacro %}

{% macro default__timestamp_from_epoch_millis(expression) -%}
    to_timestamp({{ expression }} / 1000.0)
{%- endmacro %}

{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'opencdp')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}
