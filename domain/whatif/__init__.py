"""What if: replay recorded complaints under a candidate policy set and compare outcomes."""
