import sys


def running_max(xs):
    best = None
    out = []
    for x in xs:
        if best is None or x > best:
            best = x
        out.append(best)
    return out


def main(argv):
    xs = [int(a) for a in argv]
    print(" ".join(str(m) for m in running_max(xs)))
    print("max:", running_max(xs)[0])


if __name__ == "__main__":
    main(sys.argv[1:])
