"""Reading run folders back: curves, runs compared, bands over seeds, sweep summaries and report.html."""
