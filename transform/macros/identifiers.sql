{#-
  Identifier normalization shared by every staging model. Portable SQL only (regexp_replace
  with the 'g' flag, length, substr, left and the dispatched regex_matches work the same on
  DuckDB and PostgreSQL).
-#}

{#- Trimmed, lower-cased email; null when blank or not shaped like an address. -#}
{% macro normalize_email(expression) -%}
    case
        when {{ regex_matches('lower(trim(' ~ expression ~ '))', '^[^@[:space:]]+@[^@[:space:]]+[.][^@[:space:]]+$') }}
            then lower(trim({{ expression }}))
    end
{%- endmacro %}

{#- Country names and codes as written in the feeds, to ISO 3166 alpha-2. -#}
{% macro country_aliases() -%}
    {{ return(var('country_aliases', {
        'US': ['us', 'usa', 'u.s.', 'u.s.a.', 'united states', 'united states of america', 'america'],
        'GB': ['gb', 'uk', 'u.k.', 'united kingdom', 'great britain', 'england', 'scotland', 'wales'],
        'CA': ['ca', 'can', 'canada'],
        'DE': ['de', 'deu', 'germany', 'deutschland'],
        'FR': ['fr', 'fra', 'france'],
        'IE': ['ie', 'irl', 'ireland'],
        'AU': ['au', 'aus', 'australia'],
    })) }}
{%- endmacro %}

{% macro normalize_country(expression) -%}
    case lower(trim({{ expression }}))
    {%- for code, aliases in country_aliases().items() %}
        {%- for alias in aliases %}
        when '{{ alias }}' then '{{ code }}'
        {%- endfor %}
    {%- endfor %}
        else case when length(trim({{ expression }})) = 2 then upper(trim({{ expression }})) end
    end
{%- endmacro %}

{#-
  Numbering plans the phone normalizer knows: calling code, national trunk prefix, and the
  lengths of the national significant number. Extend with the `phone_regions` var.
-#}
{% macro phone_regions() -%}
    {{ return(var('phone_regions', {
        'US': {'code': '1', 'trunk': '1', 'lengths': [10]},
        'CA': {'code': '1', 'trunk': '1', 'lengths': [10]},
        'GB': {'code': '44', 'trunk': '0', 'lengths': [9, 10]},
        'IE': {'code': '353', 'trunk': '0', 'lengths': [7, 8, 9]},
        'DE': {'code': '49', 'trunk': '0', 'lengths': [6, 7, 8, 9, 10, 11]},
        'FR': {'code': '33', 'trunk': '0', 'lengths': [9]},
        'AU': {'code': '61', 'trunk': '0', 'lengths': [9]},
    })) }}
{%- endmacro %}

{#-
  A phone number as written (`(415) 555-0134`, `+44 7700 900123`, `07700 900123`) to E.164
  (`+14155550134`), or null when it cannot be a number. Numbers without a country code are
  read in the record's own country when it has one, else in the `default_phone_region` var.
-#}
{% macro normalize_phone(expression, country_expression=none) -%}
    {%- set regions = phone_regions() -%}
    {%- set digits = "regexp_replace(" ~ expression ~ ", '[^0-9]', '', 'g')" -%}
    {%- set intl = "(case when left(trim(" ~ expression ~ "), 2) = '00' then substr(" ~ digits ~ ", 3) else " ~ digits ~ " end)" -%}
    {%- set region -%}
        coalesce({% if country_expression %}{{ normalize_country(country_expression) }}, {% endif %}'{{ var('default_phone_region') | upper }}')
    {%- endset -%}
    case
        when {{ expression }} is null or {{ regex_matches(expression, '[A-Za-z]') }} then null
        when left(trim({{ expression }}), 1) = '+' or left(trim({{ expression }}), 2) = '00' then
            case
            {%- set codes = [] -%}
            {%- for name, plan in regions.items() if plan.code not in codes -%}
                {%- do codes.append(plan.code) %}
                when left({{ intl }}, {{ plan.code | length }}) = '{{ plan.code }}' then
                    case when length({{ intl }}) - {{ plan.code | length }} in ({{ plan.lengths | join(', ') }}) then '+' || {{ intl }} end
            {%- endfor %}
                when length({{ intl }}) between 8 and 15 then '+' || {{ intl }}
            end
        else
            case {{ region }}
            {%- for name, plan in regions.items() %}
                when '{{ name }}' then
                    case
                        when length({{ digits }}) in ({{ plan.lengths | join(', ') }})
                            and left({{ digits }}, {{ plan.trunk | length }}) != '{{ plan.trunk }}'
                            then '+{{ plan.code }}' || {{ digits }}
                        when left({{ digits }}, {{ plan.trunk | length }}) = '{{ plan.trunk }}'
                            and length({{ digits }}) - {{ plan.trunk | length }} in ({{ plan.lengths | join(', ') }})
                            then '+{{ plan.code }}' || substr({{ digits }}, {{ (plan.trunk | length) + 1 }})
                    end
            {%- endfor %}
            end
    end
{%- endmacro %}
