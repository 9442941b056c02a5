{#- Active customers in the RFM segment `hibernating` (vars.profiles.rfm_segments). -#}
{{ rfm_segment_audience('hibernating') }}
