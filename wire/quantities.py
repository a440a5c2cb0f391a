"""Measured quantities and the one unit each is carried in on the wire."""

from enum import StrEnum


class Quantity(StrEnum):
    """Observed properties a reading may carry (OGC SensorThings: the Datastream's ObservedProperty)."""

    WATER_LEVEL = "water_level"
    RAINFALL = "rainfall"
    RESERVOIR_LEVEL = "reservoir_level"
    INFLOW = "inflow"
    OUTFLOW = "outflow"
    SEEPAGE = "seepage"
    DISPLACEMENT = "displacement"
    PIEZOMETRIC_LEVEL = "piezometric_level"
    TEMPERATURE = "temperature"
    HUMIDITY = "humidity"
    PRESSURE = "pressure"
    WIND_SPEED = "wind_speed"
    PM25 = "pm25"
    PM10 = "pm10"
    BATTERY_VOLTAGE = "battery_voltage"


# One unit per quantity, so the hub never converts and a dashboard never guesses. Rainfall is the depth fallen
# since the previous reading of the same gauge (an increment, not a running total), which makes sums over any
# window a plain SUM().
CANONICAL_UNITS: dict[Quantity, str] = {
    Quantity.WATER_LEVEL: "m",
    Quantity.RAINFALL: "mm",
    Quantity.RESERVOIR_LEVEL: "m",
    Quantity.INFLOW: "m3/s",
    Quantity.OUTFLOW: "m3/s",
    Quantity.SEEPAGE: "l/s",
    Quantity.DISPLACEMENT: "mm",
    Quantity.PIEZOMETRIC_LEVEL: "m",
    Quantity.TEMPERATURE: "degC",
    Quantity.HUMIDITY: "%",
    Quantity.PRESSURE: "hPa",
    Quantity.WIND_SPEED: "m/s",
    Quantity.PM25: "ug/m3",
    Quantity.PM10: "ug/m3",
    Quantity.BATTERY_VOLTAGE: "V",
}
