"""How results are judged: the run file read once into a typed model (`runfile`), statistics (`stats`), the
end-of-session summary (`summary`), the regression gate — policy, decisions, against stored baselines (`gate`,
`baselines`) or a baseline arm in the same session (`paired`), its report and re-measurement — histories with
change points (`history`), and the gate's own check of false alarms and power (`gatecheck`).
"""
