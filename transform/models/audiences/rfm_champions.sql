{#- Active customers in the RFM segment `champions` (vars.profiles.rfm_segments). -#}
{{ rfm_segment_audience('champions') }}
