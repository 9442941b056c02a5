{#-
  The identifiers that may link, per record, with the record's hub: its highest-priority
  identifier that is neither junk nor shared. A record's links run from its hub to each of its
  other identifiers, and the record belongs to the customer of its hub.
-#}
with identifiers as (
    select * from {{ ref('identity_identifiers') }}
    where not is_blocked
),

shared as (
    select identifier_key from {{ ref('int_identity__shared_identifiers') }}
),

flagged as (
    select
        identifiers.record_ref,
        identifiers.source_name,
        identifiers.table_name,
        identifiers.record_key,
        identifiers.identifier_type,
        identifiers.identifier_key,
        identifiers.identifier_rank,
        identifiers.observed_at,
        shared.identifier_key is not null as is_shared
    from identifiers
    left join shared on identifiers.identifier_key = shared.identifier_key
),

ranked as (
    select
        *,
        row_number() over (
            partition by record_ref
            order by case when is_shared then 1 else 0 end, identifier_rank, identifier_key
        ) as position_in_record
    from flagged
),

hubs as (
    select record_ref, identifier_key as hub_key
    from ranked
    where position_in_record = 1
),

final as (
    select
        ranked.record_ref,
        ranked.source_name,
        ranked.table_name,
        ranked.record_key,
        ranked.identifier_type,
        ranked.identifier_key,
        ranked.identifier_rank,
        ranked.observed_at,
        ranked.is_shared,
        hubs.hub_key,
        ranked.identifier_key = hubs.hub_key as is_hub
    from ranked
    inner join hubs on ranked.record_ref = hubs.record_ref
)

select * from final
