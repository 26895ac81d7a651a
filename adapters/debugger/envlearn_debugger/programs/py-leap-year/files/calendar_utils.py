def is_leap(year):
    """Gregorian leap years: divisible by 4, except centuries not divisible by 400."""
    by4 = year % 4 == 0
    century = year % 100 == 0
    by400 = year % 400 == 0
    return by4 and not century and by400


def days_in_year(year):
    return 366 if is_leap(year) else 365
