"""Pure alert rules, one module per hazard: thresholds come in as typed config, time as an argument, no I/O.

- ``severity``: the Severity scale every rule reports in, and value -> severity thresholds.
- ``flood_levels``: flood alarm levels BĐ1-3 at river stations (QĐ 05/2020/QĐ-TTg).
- ``heavy_rain``: rolling rain sums and heavy-rain risk levels (QĐ 18/2021/QĐ-TTg Điều 44).
- ``risk_level``: disaster risk levels 1-5, their colours, flood risk and multi-hazard escalation (QĐ 18/2021).
- ``dam_safety``: reservoir level bands, instruments and spillway-release warnings (NĐ 114/2018/NĐ-CP).
- ``nesterov``: the forest-fire danger index and levels I-V (NĐ 156/2018/NĐ-CP, TT 25/2019/TT-BNNPTNT).
- ``freshness``: sensors that missed their reporting interval (TT 17/2021/TT-BTNMT).
- ``camera``: severity of a confirmed fire or smoke detection.
- ``base``: what they share: checked text, finite and aware inputs, duplicate ids, Vietnam's time zone.
"""
