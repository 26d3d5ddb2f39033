"""Paper reproductions: `fedhive reproduce NAME` runs a spec from configs/papers/ and checks it."""
