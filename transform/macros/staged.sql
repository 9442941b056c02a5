{#-
  A staging model read by identity and profiles, or, when it was never built (a source this
  deployment does not use yet, or one whose first load has not run), an empty relation with
  its columns, so identity resolves the sources that are there instead of failing. Parsing
  still records the ref, so lineage is unchanged. tests/test_end_to_end.py checks the columns
  below against the built staging models.
-#}
{% macro staged(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {%- set columns = staging_columns().get(model_name) -%}
    {%- if columns is none -%}
        {{ exceptions.raise_compiler_error("staged(): no columns listed for '" ~ model_name ~ "' in staging_columns() (macros/staged.sql)") }}
    {%- endif -%}
    {#- a unit test's inputs are fixtures, not relations to look up -#}
    {%- if execute and model.resource_type != 'unit_test'
          and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ log("identity/profiles: " ~ model_name ~ " is not built; reading it as empty", info=true) }}
        (select {% for name, data_type in columns.items() %}cast(null as {{ cdp_type(data_type) }}) as {{ adapter.quote(name) }}{% if not loop.last %}, {% endif %}{% endfor %} where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- The columns (logical types, see cdp_type) of the staging models `staged` may stand in for. -#}
{% macro staging_columns() -%}
    {{ return({
    'stg_commerce__customers': {
        'loyalty_id': 'text', 'email': 'text', 'phone': 'text', 'first_name': 'text', 'last_name': 'text',
        'postcode': 'text', 'country_code': 'text', 'enrolled_at': 'timestamp', 'updated_at': 'timestamp',
        'load_id': 'text'
    },
    'stg_commerce__orders': {
        'order_id': 'text', 'channel': 'text', 'store_id': 'text', 'loyalty_id': 'text', 'email': 'text',
        'first_name': 'text', 'last_name': 'text', 'postcode': 'text', 'currency': 'text',
        'subtotal_amount': 'numeric', 'tax_amount': 'numeric', 'total_amount': 'numeric', 'status': 'text',
        'ordered_at': 'timestamp', 'updated_at': 'timestamp', 'load_id': 'text'
    },
    'stg_crm__archived_contacts': {
        'contact_id': 'text', 'email': 'text', 'first_name': 'text', 'last_name': 'text',
        'archived_at': 'timestamp', 'updated_at': 'timestamp', 'load_id': 'text'
    },
    'stg_crm__contacts': {
        'contact_id': 'text', 'email': 'text', 'email_as_entered': 'text', 'phone': 'text',
        'first_name': 'text', 'last_name': 'text', 'company_name': 'text', 'job_title': 'text',
        'city': 'text', 'state': 'text', 'postcode': 'text', 'country_code': 'text',
        'lifecycle_stage': 'text', 'owner_id': 'text', 'company_id': 'text',
        'has_opted_out_of_email': 'boolean', 'created_at': 'timestamp', 'crm_updated_at': 'timestamp',
        'is_archived': 'boolean', 'load_id': 'text', 'updated_at': 'timestamp', 'is_platform_created': 'boolean'
    },
    'stg_email__email_events': {
        'email_event_key': 'text', 'event_id': 'text', 'event_type': 'text', 'email': 'text',
        'subscriber_id': 'text', 'campaign_id': 'text', 'campaign_name': 'text', 'occurred_at': 'timestamp',
        'link_url': 'text', 'bounce_type': 'text', 'source_file': 'text', 'source_line': 'bigint',
        'load_id': 'text', 'delivery_number': 'bigint'
    },
    'stg_events__events': {
        'event_key': 'text', 'message_id': 'text', 'event_type': 'text', 'event_name': 'text',
        'screen_or_page_name': 'text', 'anonymous_id': 'text', 'user_id': 'text', 'occurred_at': 'timestamp',
        'original_occurred_at': 'timestamp', 'sent_at': 'timestamp', 'received_at': 'timestamp',
        'email': 'text', 'phone': 'text', 'first_name': 'text', 'last_name': 'text', 'device_id': 'text',
        'device_type': 'text', 'ip_address': 'text', 'user_agent': 'text', 'page_url': 'text',
        'page_path': 'text', 'page_referrer': 'text', 'order_id': 'text', 'product_id': 'text',
        'revenue': 'numeric', 'currency': 'text', 'unit_price': 'numeric', 'quantity': 'bigint', 'cart_id': 'text',
        'consent_analytics': 'boolean',
        'consent_advertising': 'boolean', 'consent_personalization': 'boolean', 'source_file': 'text',
        'source_line': 'bigint', 'load_id': 'text', 'raw_row_id': 'text', 'delivery_number': 'bigint'
    },
    'stg_lists__list_member_external_ids': {
        'member_external_id_key': 'text', 'member_key': 'text', 'list_name': 'text', 'system': 'text',
        'external_id': 'text'
    },
    'stg_lists__list_members': {
        'member_key': 'text', 'list_name': 'text', 'source_row': 'bigint', 'email': 'text', 'phone': 'text',
        'first_name': 'text', 'last_name': 'text', 'date_of_birth': 'date', 'street_address': 'text',
        'city': 'text', 'postcode': 'text', 'state': 'text', 'country_code': 'text', 'traits_json': 'text',
        'consent_json': 'text', 'source_file': 'text', 'load_id': 'text', 'raw_row_id': 'text'
    },
    'stg_support__tickets': {
        'ticket_id': 'text', 'subject': 'text', 'status': 'text', 'priority': 'text', 'channel': 'text',
        'requester_email': 'text', 'requester_phone': 'text', 'requester_name': 'text',
        'created_at': 'timestamp', 'updated_at': 'timestamp', 'is_open': 'boolean', 'source_file': 'text',
        'load_id': 'text', 'raw_row_id': 'text'
    }
    }) }}
{%- endmacro %}
