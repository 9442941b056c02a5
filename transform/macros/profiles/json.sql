{#- The text value of a top-level key of a JSON document held as text (null when absent or not JSON-shaped). -#}
{% macro json_text(expression, key) -%}
    {{ return(adapter.dispatch('json_text', 'opencdp')(expression, key)) }}
{%- endmacro %}

{% macro duckdb__json_text(expression, key) -%}
    json_extract_string(try_cast({{ expression }} as json), '$."{{ key }}"')
{%- endmacro %}

{% macro default__json_text(expression, key) -%}
    case when {{ regex_matches(expression, '^\s*[{]') }} then cast({{ expression }} as json) ->> '{{ key }}' end
{%- endmacro %}

{#-
  A consent answer as written in a list column (`yes`, `Y`, `true`, `1`, `opt-in`, `no`,
  `opted out`, ...) to a boolean; null when it says neither (blank, `unknown`).
-#}
{% macro consent_answer(expression) -%}
    case
        when lower(trim({{ expression }})) in ('yes', 'y', 'true', 't', '1', 'opt-in', 'opt in', 'opted-in', 'opted in',
                                               'optin', 'granted', 'subscribed', 'agree', 'agreed', 'on')
            then true
        when lower(trim({{ expression }})) in ('no', 'n', 'false', 'f', '0', 'opt-out', 'opt out', 'opted-out',
                                               'opted out', 'optout', 'denied', 'unsubscribed', 'declined', 'off')
            then false
    end
{%- endmacro %}
