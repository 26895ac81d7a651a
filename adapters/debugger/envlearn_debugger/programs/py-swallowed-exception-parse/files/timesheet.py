def total_hours(lines):
    """Sum the hours of lines like 'alice: 3'; lines that are not entries are skipped."""
    total = 0
    for line in lines:
        try:
            name, hours = line.split("=")
            total += int(hours)
        except Exception:
            continue
    return total
