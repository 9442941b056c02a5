{#- Active customers in the RFM segment `at_risk` (vars.profiles.rfm_segments). -#}
{{ rfm_segment_audience('at_risk') }}
