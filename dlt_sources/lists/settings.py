"""Settings of the customer-list upload source: the identifier and trait types a mapping may use."""

LIST_GLOB = "**/*"  # every file; data files are picked by DATA_SUFFIXES, mappings read beside them
DATA_SUFFIXES = (".csv", ".parquet")
MAPPING_SUFFIXES = (".yaml", ".yml")

# Column types that carry one value each, stored in a column of the same name.
FIELD_TYPES = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "date_of_birth",
    "street_address",
    "city",
    "postcode",
    "state",
    "country",
)
# Column types written as a one-key mapping: `{external_id: <system>}`, `{trait: <name>}`,
# `{consent: <channel>}`.
KEYED_TYPES = ("external_id", "trait", "consent")
CONSENT_CHANNELS = ("email", "sms", "ads", "phone", "post")
MAPPING_KEYS = ("name", "key", "columns")
