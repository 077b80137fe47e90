"""The regression gate: its policy (`policy`), one benchmark's verdict (`decide`), against stored baselines
(`stored`, `baselines`) or a baseline arm measured in the same session (`paired`), stopping early at looks
(`sequential`), confirming a failure by measuring it again (`remeasure`), its report (`report`), and its own check
of false alarms and power on real sessions (`check`)."""
